"""Web pages. Views parse input, call one service, and turn domain errors into a form
error or an HTTP status; they never assign state or save."""
