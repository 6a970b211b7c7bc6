"""The REST API under /api/v1/ (DESIGN.md, "Interfaces").

Views parse input, call the same services and selectors as the web pages, and turn domain
errors into statuses (errors.py); they never assign state or save. Clients authenticate with
``Authorization: Bearer <token>`` (authentication.py, tokens.py).
"""
