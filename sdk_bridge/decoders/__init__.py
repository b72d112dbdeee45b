"""One module per analytics SDK family. Each exposes NAME, matches(request) -> bool (auto-detection, cheap)
and decode(request, limits, options) -> list[CanonicalEvent]; none imports Django."""
