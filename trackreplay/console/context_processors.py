from django.conf import settings


def console(request):
    return {"debug_banner": settings.DEBUG}
