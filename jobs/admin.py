from django.contrib import admin

from jobs.models import JobApplication, JobListing


class JobApplicationInline(admin.TabularInline):
    model = JobApplication
    extra = 0
    readonly_fields = ["employee", "message", "created_at"]
    can_delete = False


@admin.register(JobListing)
class JobListingAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "employer", "employee", "budget", "status", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = [
        "title",
        "employer__phone_number",
        "employee__phone_number",
        "escrow__contract_id",
    ]
    readonly_fields = ["employer", "employee", "budget", "status", "created_at", "updated_at"]
    inlines = [JobApplicationInline]


@admin.register(JobApplication)
class JobApplicationAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "employee", "created_at"]
    search_fields = ["job__title", "employee__phone_number"]
    readonly_fields = ["job", "employee", "created_at"]
