from __future__ import annotations

from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("", views.notification_list, name="list"),
    path("bell/", views.bell, name="bell"),
    path("read-all/", views.read_all, name="read-all"),
    path("preferences/", views.preferences, name="preferences"),
    path("chat-webhook/", views.chat_webhook, name="chat-webhook"),
    path("<int:pk>/read/", views.read, name="read"),
]
