from django import forms
from django.conf import settings

from knowledge.models import Category


class TryRetrievalForm(forms.Form):
    q = forms.CharField(label="Question", max_length=500, widget=forms.TextInput(attrs={"size": 80, "autofocus": True}))
    locale = forms.ChoiceField(choices=settings.LANGUAGES, initial="en")
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(), required=False, to_field_name="slug", empty_label="All categories"
    )
    limit = forms.IntegerField(min_value=1, max_value=20, initial=8)
