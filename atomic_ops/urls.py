from django.contrib import admin
from django.urls import path

from trading import views as trading_views

urlpatterns = [
    path("", trading_views.overview, name="overview"),
    path("backtests/<int:pk>/", trading_views.backtest_detail, name="backtest-detail"),
    path("admin/", admin.site.urls),
]
