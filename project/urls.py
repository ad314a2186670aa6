from django.contrib import admin
from django.urls import include, path, re_path

from audiences.api.views import not_found as api_not_found

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("pinterest/", include("integrations.urls")),
    path("api/v1/", include("audiences.api.urls")),
    # Every other path under /api/ answers in the API's JSON error shape too.
    re_path(r"^api/", api_not_found),
]
