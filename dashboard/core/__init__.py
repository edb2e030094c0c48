"""The headless core of tbdash: discovery, polling, history, load, audit.

The command line and the TUI both drive it; nothing here imports textual.
"""
