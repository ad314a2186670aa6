from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("pinterest/", include("integrations.urls")),
    path("api/v1/", include("audiences.api.urls")),
]
