#!/usr/bin/env cwl-runner
# Word frequencies of a set of texts: the words of each text are extracted in parallel
# (scatter), merged and sorted, counted, then ranked; the ranking is split into chunks that are
# measured in parallel again (a scatter over another step's File[] output).
cwlVersion: v1.2
class: Workflow
label: word frequencies of a set of texts
requirements:
  ScatterFeatureRequirement: {}

inputs:
  texts: File[]
  chunk_lines:
    type: int
    default: 3

outputs:
  counts:
    type: File
    outputSource: rank/ranked
  words:
    type: File[]
    outputSource: extract/words
  chunk_sizes:
    type: File[]
    outputSource: measure/size
  lines:
    type: File
    outputSource: total/report

steps:
  extract:
    run: tools/words.cwl
    scatter: text
    in:
      text: texts
    out: [words]

  merge:
    run: tools/sort.cwl
    in:
      files: extract/words
    out: [sorted]

  count:
    run: tools/uniq-count.cwl
    in:
      file: merge/sorted
    out: [counts]

  rank:
    run: tools/rank.cwl
    in:
      counts:
        source: count/counts
    out: [ranked]

  chunks:
    run: tools/split.cwl
    in:
      file: rank/ranked
      lines: chunk_lines
    out: [parts]

  measure:
    scatter: part
    in:
      part: chunks/parts
    out: [size]
    run:
      class: CommandLineTool
      baseCommand: [wc, -l]
      inputs:
        part:
          type: File
          inputBinding: { position: 1 }
      outputs:
        size: stdout
      stdout: size.txt

  total:
    run: tools/line-count.cwl
    in:
      files: texts
    out: [report]
