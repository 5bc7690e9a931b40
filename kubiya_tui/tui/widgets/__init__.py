"""Widgets of the console: header, banner, tables and charts."""
