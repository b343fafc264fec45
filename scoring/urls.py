"""The scoring pages, included under ``/o/<slug:org_slug>/scoring/``. Names are global
(no ``app_name``), prefixed ``scoring-``:
``{% url 'scoring-home' org_slug=organization.slug %}``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.scoring_home, name="scoring-home"),
    path("models/new/", views.draft_new, name="scoring-draft-new"),
    path("models/<int:model_id>/", views.model_page, name="scoring-model"),
    path("models/<int:model_id>/edit/", views.model_edit, name="scoring-model-edit"),
    path("models/<int:model_id>/settings/", views.model_settings, name="scoring-model-settings"),
    path("models/<int:model_id>/delete/", views.model_delete, name="scoring-model-delete"),
    path("models/<int:model_id>/activate/", views.model_activate, name="scoring-activate"),
    path("models/<int:model_id>/fit-rules/", views.fit_rule_add, name="scoring-fit-add"),
    path("fit-rules/<int:rule_id>/", views.fit_rule, name="scoring-fit-rule"),
    path("fit-rules/<int:rule_id>/delete/", views.fit_rule_delete, name="scoring-fit-delete"),
    path(
        "models/<int:model_id>/behaviour-rules/",
        views.behaviour_rule_add,
        name="scoring-behaviour-add",
    ),
    path("behaviour-rules/<int:rule_id>/", views.behaviour_rule, name="scoring-behaviour-rule"),
    path(
        "behaviour-rules/<int:rule_id>/delete/",
        views.behaviour_rule_delete,
        name="scoring-behaviour-delete",
    ),
    path("runs/<int:run_id>/", views.run_page, name="scoring-run"),
    path("predictive/train/", views.predictive_train_view, name="scoring-predictive-train"),
]
