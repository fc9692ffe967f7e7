//! docker-compose.yml checks (filled in by its own change).
