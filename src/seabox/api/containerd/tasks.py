"""Tasks service (containerd.services.tasks.v1.Tasks) — owned by the tasks engineer; in progress."""


class TasksServicer:
    """Placeholder; the real servicer is being written."""
