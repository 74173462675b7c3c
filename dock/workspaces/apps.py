from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "dock.workspaces"
    label = "workspaces"
    verbose_name = "Workspaces"
