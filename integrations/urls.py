from django.urls import path

from integrations import views

app_name = "integrations"

urlpatterns = [
    # Registered at Pinterest as the app's redirect URI: keep it stable.
    path("callback/", views.callback, name="callback"),
    path("<slug:slug>/", views.partner, name="partner"),
    path("<slug:slug>/connect/", views.connect, name="connect"),
    path("<slug:slug>/ad-accounts/", views.ad_accounts, name="ad_accounts"),
    path("<slug:slug>/disconnect/", views.disconnect, name="disconnect"),
]
