"""The web console: server-rendered pages (templates in platform/templates) with htmx for small updates.

Pages are declared as data in pages.py (which columns a list shows, which fields and child lists a detail
page shows); views.py renders any of them, always inside the project named in the URL, so a user who is not
a member of that project gets 404 for every page of it.
"""
