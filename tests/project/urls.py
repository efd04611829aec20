from django.urls import path

from . import views

urlpatterns = [
    path("echo_once/", views.echo_once),
    path("lower_case/", views.lower_case),
]
