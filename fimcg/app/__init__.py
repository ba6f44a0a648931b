"""The application layer: the command line (:mod:`.cli`), the main job (:mod:`.main_job`) and its
coarse-graining stage (:mod:`.pipeline`), the HTML report (:mod:`.report`) and the plotly figure
builders (:mod:`.figures`) shared by the report, the notebooks and the book. May import every other package.
"""
