"""Client Hub › Billing details: the shared company details page (portal/company_pages.py)."""

from portal.company_pages import company_details_page
from portal.scope import client_required

billing_details = client_required(company_details_page)
