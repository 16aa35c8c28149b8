"""The desktop window. Qt lives only in this sub-package; the engine stays Qt-free."""
