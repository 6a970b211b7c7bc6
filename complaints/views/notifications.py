from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from complaints.selectors import notifications_for


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    return render(request, "complaints/notifications.html",
                  {"notifications": notifications_for(request.user)})
