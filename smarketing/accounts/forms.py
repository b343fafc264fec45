"""Forms of the accounts pages: sign-in, sign-up, profile, a new organization."""

from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate, get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

User = get_user_model()


class EmailAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, speaking of an e-mail address rather than a username.

    The field keeps the name ``username`` so that django-axes finds the credential.
    """

    username = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("This e-mail and password do not match. Please try again."),
    }

    def clean_username(self) -> str:
        # Addresses are stored lower-case; one spelling also means one lockout counter
        # (otherwise "Alice@" and "alice@" would each get their own five attempts).
        return self.cleaned_data["username"].strip().lower()

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            # The address is passed under both names: django-axes reads the credential
            # named by AXES_USERNAME_FORM_FIELD, which defaults to USERNAME_FIELD
            # ("email"); Django's backends read "username".
            self.user_cache = authenticate(
                self.request, username=username, email=username, password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class PasswordPairMixin:
    """Two password fields checked against Django's validators."""

    def clean_passwords(self, user) -> None:
        cleaned = self.cleaned_data  # type: ignore[attr-defined]
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords do not match."))  # type: ignore[attr-defined]
            return
        if password1:
            try:
                password_validation.validate_password(password1, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)  # type: ignore[attr-defined]


def _password_field(label, *, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


class AccountFieldsForm(PasswordPairMixin, forms.Form):
    """Who the new person is: the part shared by sign-up and accepting an invitation."""

    full_name = forms.CharField(
        label=_("Full name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password1 = _password_field(
        _("Password"),
        help_text=_(
            "At least 8 characters. Not a common password, not only digits, "
            "not close to your name or e-mail."
        ),
    )
    password2 = _password_field(_("Password (again)"))

    def email_value(self) -> str:
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        candidate = User(email=self.email_value(), full_name=cleaned.get("full_name", ""))
        self.clean_passwords(candidate)
        return cleaned


class SignupForm(AccountFieldsForm):
    email = forms.EmailField(
        label=_("Work e-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    organization_name = forms.CharField(
        label=_("Company name"),
        max_length=120,
        help_text=_("Your organization on Smarketing. You can invite your team next."),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )

    field_order = ["full_name", "email", "password1", "password2", "organization_name"]

    def email_value(self) -> str:
        return self.cleaned_data.get("email", "")

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account already exists with this e-mail. Sign in instead.")
            )
        return email

    def clean_organization_name(self) -> str:
        name = self.cleaned_data["organization_name"].strip()
        if not name:
            raise forms.ValidationError(_("This field is required."))
        return name


class InvitationSignupForm(AccountFieldsForm):
    """Sign-up from an invitation: the address is the invited one, not typed."""

    def __init__(self, *args, email: str, **kwargs) -> None:
        self.email = email
        super().__init__(*args, **kwargs)

    def email_value(self) -> str:
        return self.email

    def clean(self):
        cleaned = super().clean()
        if User.objects.filter(email__iexact=self.email).exists():
            raise forms.ValidationError(
                _("An account already exists with this e-mail. Sign in to accept.")
            )
        return cleaned


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "language"]
        labels = {"full_name": _("Full name"), "language": _("Language")}
        help_texts = {
            "language": _("The language of the pages and of the e-mails you receive."),
        }


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(label=_("Company name"), max_length=120)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("This field is required."))
        return name
