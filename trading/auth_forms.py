"""The console's sign-in form."""

from django.contrib.auth.forms import AuthenticationForm


class ConsoleAuthenticationForm(AuthenticationForm):
    """Django's form, plus: a username longer than any user can have is refused before it
    reaches authentication (and the lockout bookkeeping, whose columns it would overflow),
    with the same message as a wrong password."""

    def clean(self):
        username = self.data.get("username", "")
        if not isinstance(username, str) or len(username) > (self.fields["username"].max_length or 150):
            raise self.get_invalid_login_error()
        return super().clean()
