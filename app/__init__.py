"""The mutual aid API: connects people who need help with people who can give it."""
