"""Full-screen views: overview, queue detail, workers, worker detail, help."""
