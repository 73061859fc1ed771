"""PLACEHOLDER: being written."""

from django.http import Http404


def billing_details(request, *args, **kwargs):
    raise Http404

