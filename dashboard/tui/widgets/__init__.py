"""Widgets of the dashboard, one module per region of the screen."""
