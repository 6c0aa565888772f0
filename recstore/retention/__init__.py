"""Hard deletion within the retention limit: the policy (when a recording and its epoch must go),
the deletion pass, epoch destruction, the janitor of orphans, the scheduler and the report.

May import: recstore infrastructure, recordings and crypto/."""
