"""Request execution: validation, the native scheduler, model instances and completions."""
