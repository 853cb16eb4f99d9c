"""The sandboxed grading engine: student code runs only in a sandboxed runner; verdicts are computed here.

* :mod:`~course.grader.launch`, :mod:`~course.grader.sandbox`, :mod:`~course.grader.cgroups`: starting the runner
  (namespaces, an unprivileged user, memory/process caps) and ending all of it.
* :mod:`~course.grader.protocol`, :mod:`~course.grader.runner`, :mod:`~course.grader.kernel`: the channel — plain
  data only — between the grader and the runner, and proxies to objects that stay in the sandbox.
* :mod:`~course.grader.judge`, :mod:`~course.grader.toolkit`, :mod:`~course.grader.probes`: the judges' API
  (hidden tests live in ``autograder/judges/<lab>.py``).
* :mod:`~course.grader.engine`: grading one submission; :mod:`~course.grader.one`: the same as a program of its
  own; :mod:`~course.grader.batch`: a folder of them, with :mod:`~course.grader.intake`,
  :mod:`~course.grader.store`, :mod:`~course.grader.report`, :mod:`~course.grader.gradebook` and
  :mod:`~course.grader.feedback`.
* :mod:`~course.grader.pools`: where submissions are graded (here, child processes, or a Dask cluster through
  :mod:`~course.grader.cluster`).
* :mod:`~course.grader.collect`: LMS exports into the nbgrader layout; :mod:`~course.grader.class_report`: where
  the class struggled.

Nothing here is imported by ``import course``: students do not need it.
"""
