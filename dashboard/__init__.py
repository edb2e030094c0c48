"""tbdash: the Textual dashboard, its command line and the embedded Redis servers."""
