"""Who may act where: the org tree, users and roles, sign-in and its throttling, who sees a case and works on a
task, the working-day calendar.
"""
