from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import path, register_converter

from trading import config_views
from trading import views as trading_views
from trading.auth_forms import ConsoleAuthenticationForm


class NodeNameConverter:
    """A node name as trading.engine.paths.NODE_NAME allows it: anything else is a 404 before
    a view (or an audit entry) ever sees it."""

    regex = "[a-z0-9][a-z0-9_-]{0,62}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(NodeNameConverter, "node")

urlpatterns = [
    path("", trading_views.overview, name="overview"),
    path("backtests/", trading_views.backtest_list, name="backtest-list"),
    path("backtests/<int:pk>/", trading_views.backtest_detail, name="backtest-detail"),
    path("nodes/<node:name>/", trading_views.node_live, name="node-live"),
    path("nodes/<node:name>/resume/", trading_views.resume_request, name="node-resume-request"),
    path("nodes/<node:name>/orders/", trading_views.node_orders, name="node-orders"),
    path("nodes/<node:name>/risk/", trading_views.node_risk, name="node-risk"),
    path("approvals/<int:pk>/decide/", trading_views.approval_decide, name="approval-decide"),
    path("events/", trading_views.event_list, name="event-list"),
    path("events/<node:name>/<int:seq>/", trading_views.event_detail, name="event-detail"),
    path("events/<node:name>/state/", trading_views.event_state_at, name="event-state-at"),
    path("audit/", trading_views.audit_list, name="audit-list"),
    path("audit/export.csv", trading_views.audit_export, name="audit-export"),
    path("audit/<int:seq>/", trading_views.audit_detail, name="audit-detail"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=ConsoleAuthenticationForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # browsers ask for /favicon.ico on every page without a <link rel=icon> (the admin's)
    # (resolved per request: the production manifest storage is not readable at import time)
    path("favicon.ico", lambda request: HttpResponsePermanentRedirect(static("favicon.svg"))),
    path("nodes/<node:name>/config/", config_views.node_config, name="node-config"),
    path("nodes/<node:name>/config/propose/", config_views.node_config_propose, name="node-config-propose"),
    path(
        "nodes/<node:name>/config/rollback/", config_views.node_config_rollback, name="node-config-rollback"
    ),
]
