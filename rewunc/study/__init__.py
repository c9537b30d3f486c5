"""The study layer: experiments built from the core's pieces, as stages of a run folder.

    config.py   StudyConfig (the shared fields, declared and validated once) and the field groups
                TabularFields, FeatureFields, DeepFields; the checks they share
    common.py   start (the run folder, the process set-up), collect_demonstrations, fit_posterior
    tabular.py  plan_agent, evaluation_cell, broil_frontier; p_sweep (CornerGoal, ColorGoal)
    feature.py  collect_choices, collect_preferences (no MDP); feature_study (PointLava, PointColor)
    deep.py     DeepTask, train_deep_agent(s), deep_evaluation_cell, twin_objective, twins
    report.py   posterior_row, write_tables, exactness, conclude

Every stage goes through :meth:`rewunc.runs.Run.produce`. An experiment script
(``experiments/``) calls these in plain loops; no experiment imports another.
"""
