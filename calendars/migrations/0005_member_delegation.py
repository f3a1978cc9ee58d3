from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("calendars", "0004_folder_sync_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="corporatemember",
            name="calendar_permission",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="corporatemember",
            name="delegation",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Not known (Exchange shows the delegate list only with full access)"),
                    ("delegate", "Delegate"),
                    ("permission", "Calendar permission only (not a delegate)"),
                    ("none", "Neither delegate nor permission"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="corporatemember",
            name="delegate_permission",
            field=models.CharField(blank=True, max_length=16),
        ),
    ]
