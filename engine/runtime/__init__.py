"""The write side: start and complete instances, project each step, task operations, messages, timers and
schedules, deadlines, notifications, administration.
"""
