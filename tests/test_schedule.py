from config.celery_app import app
from config.schedule import BEAT_SCHEDULE


def test_the_beat_schedule_names_only_registered_tasks():
    app.loader.import_default_modules()
    assert BEAT_SCHEDULE
    assert {entry["task"] for entry in BEAT_SCHEDULE.values()} <= set(app.tasks)
