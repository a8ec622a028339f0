"""Request ids: every request carries one (a valid X-Request-ID from the proxy, or a new one),
echoed in the response and written into the audit entries the request causes."""

import re
import uuid

REQUEST_ID = re.compile(r"[0-9A-Za-z._:-]{8,64}")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-ID", "")
        request.request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
