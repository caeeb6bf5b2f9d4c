"""Activities: group gatherings that members join, with a waitlist, a calendar and a directory feed."""
