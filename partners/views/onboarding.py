"""PLACEHOLDER: being written."""

from django.http import Http404


def client_onboard(request, *args, **kwargs):
    raise Http404

