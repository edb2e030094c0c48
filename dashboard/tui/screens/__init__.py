"""The screens of tbdash: the dashboard, its forms and modals, audit and help."""
