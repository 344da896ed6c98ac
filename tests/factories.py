import factory

from accounts.models import User, UserType

PASSWORD = "a-long-passphrase-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    phone_number = factory.Sequence(lambda n: f"+25479{n:07d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class EmployerFactory(UserFactory):
    user_type = UserType.EMPLOYER


class EmployeeFactory(UserFactory):
    user_type = UserType.EMPLOYEE


class ArbiterFactory(EmployerFactory):
    """Staff with the arbiter permission: resolves disputes."""

    is_staff = True

    @factory.post_generation
    def _arbiter(obj, create, extracted, **kwargs):
        if create:
            from django.contrib.auth.models import Permission

            obj.user_permissions.add(Permission.objects.get(codename="resolve_dispute"))
