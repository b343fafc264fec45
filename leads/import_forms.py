"""Forms of the CSV import: the upload, and the column mapping (one choice per column)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .imports import IMPORT_FIELDS, MAX_UPLOAD_BYTES


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Up to 20 MB, with a header row. UTF-8 or Latin-1 (Excel), separated by "
            "commas, semicolons or tabs: both are detected."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv"}),
    )
    delimiter = forms.ChoiceField(
        label=_("Delimiter"),
        required=False,
        choices=[
            ("", _("Detect")),
            (",", _("Comma ( , )")),
            (";", _("Semicolon ( ; )")),
            ("\t", _("Tab")),
        ],
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB."), params={"mb": MAX_UPLOAD_BYTES // 2**20}
            )
        name = (upload.name or "").lower()
        if not name.endswith((".csv", ".txt", ".tsv")):
            raise forms.ValidationError(_("Upload a .csv file (in Excel: Save as → CSV)."))
        return upload


def field_choices() -> list[tuple[str, str]]:
    return [("", _("— Ignore this column —"))] + [(f.name, f.label) for f in IMPORT_FIELDS.values()]


class MappingForm(forms.Form):
    """``col_<i>``: the lead field for column ``i`` of the file ("" = ignored)."""

    overwrite = forms.BooleanField(
        label=_("Replace the values of existing leads"),
        required=False,
        help_text=_(
            "Off: existing leads only get their empty fields filled. On: non-empty cells "
            "replace what is there. Empty cells never erase anything."
        ),
    )

    def __init__(
        self, *args, headers: list[str], columns: list[str], samples: list[str], **kwargs
    ) -> None:
        initial = kwargs.pop("initial", {}) or {}
        for index, name in enumerate(columns):
            initial.setdefault(f"col_{index}", name)
        super().__init__(*args, initial=initial, **kwargs)
        self.headers = headers
        choices = field_choices()
        for index, header in enumerate(headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header or _("Column %(n)s") % {"n": index + 1},
                choices=choices,
                required=False,
                help_text=samples[index] if index < len(samples) else "",
            )

    def column_fields(self) -> list[forms.BoundField]:
        return [self[f"col_{i}"] for i in range(len(self.headers))]

    def columns(self) -> list[str]:
        """The mapping as submitted (also usable unvalidated, for the live preview)."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        names = []
        for index in range(len(self.headers)):
            key = f"col_{index}"
            value = data.get(key) if key in data else self.data.get(key, "")
            names.append(value if value in IMPORT_FIELDS else "")
        return names
