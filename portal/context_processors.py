from portal.scope import membership_of


def membership(request):
    """`membership` in every template: drives the navigation (Client Hub or Partner Hub) and role-aware buttons."""
    found = getattr(request, "membership", None)
    if found is None and hasattr(request, "user"):
        found = membership_of(request.user)
    return {"membership": found}
