from django.contrib import admin
from django.http import Http404
from django.urls import include, path, re_path

from audiences.api.views import not_found as api_not_found
from integrations import welcome
from ops import views as ops_views


def signup_closed(request):
    # Accounts are made by staff (integrations.accounts): there is no sign-up page.
    raise Http404("Sign-up is closed.")


urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("metrics", ops_views.metrics_view, name="metrics"),
    path("accounts/signup/", signup_closed),
    # An invitation's one-time link: the key is allauth's password-reset key (integrations.welcome).
    re_path(r"^accounts/welcome/(?P<workspace_id>[0-9]+)/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$", welcome.welcome,
            name="welcome"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("pinterest/", include("integrations.urls")),
    path("api/v1/", include("audiences.api.urls")),
    # Every other path under /api/ answers in the API's JSON error shape too.
    re_path(r"^api/", api_not_found),
]
