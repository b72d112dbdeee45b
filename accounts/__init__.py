"""Users, projects, memberships and API tokens: who may see and change what."""
