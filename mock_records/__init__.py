"""Mock records (every API exchange of a recording run), matching, global mocks, API change detection."""
