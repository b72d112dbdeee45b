from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Model, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from accounts.models import Membership, Project, Role
from accounts.scoping import project_of, project_path
from automation.models import Run
from reports.models import Report
from test_records.models import TestRecord
from tracking_plan.models import Fault, FaultStatus

from .cells import Code, Flags, PostButton
from .pages import BY_MODEL, BY_SLUG, PAGES, Page

BODY_PREVIEW_MAX = 256 * 1024


@dataclass
class Cell:
    text: str
    url: str | None = None
    pre: bool = False
    badges: list | None = None  # [(text, "red" | "yellow")]
    post: str | None = None  # a POST button to this URL, labelled text


def _member_project(request, slug: str) -> tuple[Project, str]:
    membership = (
        Membership.objects.select_related("project").filter(user=request.user, project__slug=slug).first()
    )
    if membership is None:
        raise Http404("No such project")  # same answer whether it exists or not
    return membership.project, membership.role


CAN_EDIT = (Role.ADMIN, Role.QA)  # who changes rules and repairs them in the console


def _editor_project(request, slug: str, roles=CAN_EDIT) -> tuple[Project, str]:
    """The project and role, for a member allowed to change rules; 404 otherwise (as for non-members)."""
    project, role = _member_project(request, slug)
    if role not in roles:
        raise Http404("Your role does not allow this change")
    return project, role


def detail_url(project: Project, obj: Model) -> str | None:
    page = BY_MODEL.get(type(obj))
    if page is None:
        return None
    return reverse("console-detail", args=[project.slug, page.slug, obj.pk])


def _body_text(data: bytes) -> str:
    if not data:
        return "(empty)"
    if len(data) > BODY_PREVIEW_MAX:
        return f"({len(data)} bytes; too large to preview, download it through the API)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"({len(data)} bytes of binary data)\n" + data[:512].hex(" ")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # a recorded body may nest deeper than Python follows
        return text


def format_value(value, project: Project, *, compact: bool = False) -> Cell:
    if isinstance(value, PostButton):
        return Cell(value.label, post=value.url)
    if isinstance(value, Flags):
        badges = value.badges()
        return Cell("—" if not badges else "", badges=badges)
    if isinstance(value, Code):
        lines = value.text.splitlines() or [""]
        width = len(str(len(lines)))
        return Cell("\n".join(f"{n:>{width}} │ {line}" for n, line in enumerate(lines, 1)), pre=True)
    if value is None or value == "":
        return Cell("—")
    if isinstance(value, bool):
        return Cell("yes" if value else "no")
    if isinstance(value, (bytes, memoryview)):
        return Cell(_body_text(bytes(value)), pre=True)
    if isinstance(value, datetime):
        return Cell(formats.date_format(timezone.localtime(value), "Y-m-d H:i:s"))
    if isinstance(value, float):
        return Cell(f"{value:.1%}" if 0 <= value <= 1 else f"{value:g}")
    if isinstance(value, dict) and value and all(isinstance(v, (str, int, float)) for v in value.values()):
        return Cell(", ".join(f"{k}={v}" for k, v in value.items()))  # variables: NAME=value, never JSON
    if isinstance(value, (dict, list)):
        if not value:
            return Cell("—")
        if compact:  # table cells: one line, so a row stays one row
            return Cell(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))
        text = json.dumps(value, indent=2, ensure_ascii=False)
        return Cell(text, pre="\n" in text)
    if isinstance(value, Model):
        return Cell(str(value), url=detail_url(project, value))
    return Cell(str(value))


def _attr(obj, attr):
    if callable(attr):
        return attr(obj)
    if attr == "__str__":
        return str(obj)
    value = obj
    for part in attr.split("."):
        display = getattr(value, f"get_{part}_display", None)
        value = display() if display and getattr(value, part) not in (None, "") else getattr(value, part, None)
        if value is None:
            break
    return value


def _rows(objects, columns, project, link_page: Page | None, *, link_first=True):
    rows = []
    for obj in objects:
        cells = [format_value(_attr(obj, column.attr), project, compact=True) for column in columns]
        if link_page is not None and link_first and cells:
            cells[0].url = reverse("console-detail", args=[project.slug, link_page.slug, obj.pk])
        rows.append(cells)
    return rows


def _nav(project: Project | None):
    return [(page.slug, page.title) for page in PAGES if page.in_nav] if project else []


def _context(request, project: Project | None, role: str | None, **extra):
    projects = Project.objects.filter(memberships__user=request.user).order_by("name")
    return {"project": project, "role": role, "projects": projects, "nav": _nav(project),
            "can_edit": role in CAN_EDIT, **extra}


@login_required
def home(request):
    first = Project.objects.filter(memberships__user=request.user).order_by("name").first()
    if first is not None:
        return redirect("console-project", first.slug)
    return render(request, "console/no_project.html", _context(request, None, None))


@login_required
@require_POST
def create_project(request):
    name = request.POST.get("name", "").strip()
    slug = slugify(request.POST.get("slug", "") or name)
    errors = []
    if not name:
        errors.append("Name: give the project a name.")
    if not slug:
        errors.append("Slug: use letters, digits, - and _.")
    if not errors:
        try:
            with transaction.atomic():
                project = Project.objects.create(name=name, slug=slug)
                Membership.objects.create(project=project, user=request.user, role=Role.ADMIN)
            return redirect("console-project", project.slug)
        except IntegrityError:
            errors.append(f"Slug: a project with the slug '{slug}' already exists.")
    return render(request, "console/no_project.html", _context(request, None, None, errors=errors), status=400)


@login_required
@require_POST
def switch_project(request):
    project, _ = _member_project(request, request.POST.get("project", ""))
    page = request.POST.get("page", "")
    target = reverse("console-list", args=[project.slug, page]) if page in BY_SLUG else \
        reverse("console-project", args=[project.slug])
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@login_required
def project_overview(request, project_slug):
    project, role = _member_project(request, project_slug)
    counts = []
    for page in PAGES:
        if page.in_nav:
            path = project_path(page.model)
            counts.append((page, page.model.objects.filter(**{path: project}).count()))
    latest_reports = Report.objects.filter(project=project).select_related("test_record", "scenario_version")[:10]
    return render(request, "console/project.html", _context(
        request, project, role, counts=counts,
        reports=_rows(latest_reports, BY_SLUG["reports"].columns, project, BY_SLUG["reports"]),
        report_columns=[c.label for c in BY_SLUG["reports"].columns],
        open_faults=Fault.objects.filter(project=project, status__in=[FaultStatus.OPEN, FaultStatus.IN_PROGRESS]).count(),
        queued_runs=Run.objects.filter(project=project, status="queued").count(),
        baselines=TestRecord.objects.filter(project=project, is_baseline=True).count(),
    ))


def _page_or_404(page_slug: str) -> Page:
    page = BY_SLUG.get(page_slug)
    if page is None:
        raise Http404("No such page")
    return page


@login_required
def object_list(request, project_slug, page_slug):
    project, role = _member_project(request, project_slug)
    page = _page_or_404(page_slug)
    queryset = page.model.objects.filter(**{project_path(page.model): project})
    if page.related:
        queryset = queryset.select_related(*page.related)
    query = request.GET.get("q", "").strip()
    if query:
        condition = Q()
        for name in page.search:
            condition |= Q(**{f"{name}__icontains": query})
        queryset = queryset.filter(condition)
    paginator = Paginator(queryset, 50)
    page_obj = paginator.get_page(request.GET.get("page"))
    context = _context(
        request, project, role, page=page, query=query, page_obj=page_obj, can_change=role in page.edit_roles,
        columns=[c.label for c in page.columns],
        rows=_rows(page_obj.object_list, page.columns, project, page),
    )
    template = "console/_list_results.html" if request.headers.get("HX-Request") else "console/list.html"
    return render(request, template, context)


@login_required
def object_detail(request, project_slug, page_slug, pk):
    project, role = _member_project(request, project_slug)
    page = _page_or_404(page_slug)
    obj = page.model.objects.filter(pk=pk).first()
    if obj is None or getattr(project_of(obj), "pk", None) != project.pk:
        raise Http404("No such object in this project")
    fields = []
    for name in page.detail:
        if isinstance(name, tuple):  # (label, function of the object)
            fields.append((name[0], format_value(name[1](obj), project)))
            continue
        try:
            label = page.model._meta.get_field(name).verbose_name
        except Exception:  # a property such as url or request_body
            label = name.replace("_", " ")
        fields.append((label[:1].upper() + label[1:], format_value(_attr(obj, name), project)))
    children = []
    for child in page.children:
        rows = list(child.rows(obj)[: child.limit])
        link = BY_SLUG.get(child.page) if child.page else None
        children.append({
            "title": child.title, "columns": [c.label for c in child.columns],
            "rows": _rows(rows, child.columns, project, link), "truncated": len(rows) == child.limit,
        })
    return render(request, "console/detail.html", _context(
        request, project, role, page=page, obj=obj, fields=fields, children=children,
        can_change=role in page.edit_roles,
    ))
