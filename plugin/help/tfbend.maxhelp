{
  "patcher": {
    "fileversion": 1,
    "appversion": {
      "major": 8,
      "minor": 6,
      "revision": 0,
      "architecture": "x64",
      "modernui": 1
    },
    "classnamespace": "box",
    "rect": [
      100,
      100,
      1240,
      880
    ],
    "openinpresentation": 0,
    "default_fontsize": 12,
    "boxes": [
      {
        "box": {
          "id": "obj-1",
          "maxclass": "comment",
          "text": "tfbend: every command of the plugin (click a message; replies print in the Max console)",
          "patching_rect": [
            20,
            10,
            600,
            20
          ],
          "numinlets": 1,
          "numoutlets": 0
        }
      },
      {
        "box": {
          "id": "obj-2",
          "maxclass": "newobj",
          "text": "node.script tfbend.mjs @autostart 1 @watch 0",
          "patching_rect": [
            20,
            560,
            300,
            22
          ],
          "numinlets": 1,
          "numoutlets": 2
        }
      },
      {
        "box": {
          "id": "obj-3",
          "maxclass": "message",
          "text": "load audio",
          "patching_rect": [
            20,
            40,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-4",
          "maxclass": "message",
          "text": "stream start",
          "patching_rect": [
            250,
            40,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-5",
          "maxclass": "message",
          "text": "input walk 1",
          "patching_rect": [
            480,
            40,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-6",
          "maxclass": "message",
          "text": "input walk 0.25",
          "patching_rect": [
            20,
            68,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-7",
          "maxclass": "message",
          "text": "input hold",
          "patching_rect": [
            250,
            68,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-8",
          "maxclass": "message",
          "text": "stream stop",
          "patching_rect": [
            480,
            68,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-9",
          "maxclass": "message",
          "text": "models",
          "patching_rect": [
            20,
            96,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-10",
          "maxclass": "message",
          "text": "trace",
          "patching_rect": [
            250,
            96,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-11",
          "maxclass": "message",
          "text": "weights",
          "patching_rect": [
            480,
            96,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-12",
          "maxclass": "message",
          "text": "activations",
          "patching_rect": [
            20,
            124,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-13",
          "maxclass": "message",
          "text": "graph",
          "patching_rect": [
            250,
            124,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-14",
          "maxclass": "message",
          "text": "bend net_2_conv mask prob @keep=0.5 dim -2",
          "patching_rect": [
            480,
            124,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-15",
          "maxclass": "message",
          "text": "bend net.6.conv.weight scale scale @gain=1",
          "patching_rect": [
            20,
            152,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-16",
          "maxclass": "message",
          "text": "controls",
          "patching_rect": [
            250,
            152,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-17",
          "maxclass": "message",
          "text": "set keep 0.3",
          "patching_rect": [
            480,
            152,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-18",
          "maxclass": "message",
          "text": "get keep",
          "patching_rect": [
            20,
            180,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-19",
          "maxclass": "message",
          "text": "write crushed",
          "patching_rect": [
            250,
            180,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-20",
          "maxclass": "message",
          "text": "version default",
          "patching_rect": [
            480,
            180,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-21",
          "maxclass": "message",
          "text": "versions",
          "patching_rect": [
            20,
            208,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-22",
          "maxclass": "message",
          "text": "interpolate default 1 crushed 1",
          "patching_rect": [
            250,
            208,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-23",
          "maxclass": "message",
          "text": "config save preset1",
          "patching_rect": [
            480,
            208,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-24",
          "maxclass": "message",
          "text": "config load preset1",
          "patching_rect": [
            20,
            236,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-25",
          "maxclass": "message",
          "text": "input 0 1 0 0 0 0 0 0",
          "patching_rect": [
            250,
            236,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-26",
          "maxclass": "message",
          "text": "render demo.wav 2",
          "patching_rect": [
            480,
            236,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-27",
          "maxclass": "message",
          "text": "input walk 0.25",
          "patching_rect": [
            20,
            264,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-28",
          "maxclass": "message",
          "text": "unbend net_2_conv",
          "patching_rect": [
            250,
            264,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-29",
          "maxclass": "message",
          "text": "reset",
          "patching_rect": [
            480,
            264,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-30",
          "maxclass": "message",
          "text": "stream start",
          "patching_rect": [
            20,
            292,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-31",
          "maxclass": "message",
          "text": "stream stop",
          "patching_rect": [
            250,
            292,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-32",
          "maxclass": "message",
          "text": "status",
          "patching_rect": [
            480,
            292,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-33",
          "maxclass": "message",
          "text": "dump",
          "patching_rect": [
            20,
            320,
            220,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-34",
          "maxclass": "slider",
          "text": "",
          "patching_rect": [
            720,
            310,
            140,
            18
          ],
          "numinlets": 1,
          "numoutlets": 1,
          "orientation": 1
        }
      },
      {
        "box": {
          "id": "obj-35",
          "maxclass": "newobj",
          "text": "scale 0 127 0. 1.",
          "patching_rect": [
            720,
            334,
            120,
            22
          ],
          "numinlets": 6,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-36",
          "maxclass": "newobj",
          "text": "prepend set keep",
          "patching_rect": [
            720,
            360,
            120,
            22
          ],
          "numinlets": 1,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-37",
          "maxclass": "slider",
          "text": "",
          "patching_rect": [
            720,
            340,
            140,
            18
          ],
          "numinlets": 1,
          "numoutlets": 1,
          "orientation": 1
        }
      },
      {
        "box": {
          "id": "obj-38",
          "maxclass": "newobj",
          "text": "scale 0 127 0. 2.",
          "patching_rect": [
            720,
            364,
            120,
            22
          ],
          "numinlets": 6,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-39",
          "maxclass": "newobj",
          "text": "prepend set gain",
          "patching_rect": [
            720,
            390,
            120,
            22
          ],
          "numinlets": 1,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-40",
          "maxclass": "newobj",
          "text": "route ok error dict",
          "patching_rect": [
            20,
            600,
            200,
            22
          ],
          "numinlets": 1,
          "numoutlets": 4
        }
      },
      {
        "box": {
          "id": "obj-41",
          "maxclass": "newobj",
          "text": "print tfbend",
          "patching_rect": [
            20,
            640,
            90,
            22
          ],
          "numinlets": 1,
          "numoutlets": 0
        }
      },
      {
        "box": {
          "id": "obj-42",
          "maxclass": "newobj",
          "text": "print tfbend-error",
          "patching_rect": [
            120,
            640,
            120,
            22
          ],
          "numinlets": 1,
          "numoutlets": 0
        }
      },
      {
        "box": {
          "id": "obj-43",
          "maxclass": "newobj",
          "text": "print tfbend-dict",
          "patching_rect": [
            250,
            640,
            120,
            22
          ],
          "numinlets": 1,
          "numoutlets": 0
        }
      },
      {
        "box": {
          "id": "obj-44",
          "maxclass": "newobj",
          "text": "jit.net.recv @port 7474",
          "patching_rect": [
            450,
            600,
            160,
            22
          ],
          "numinlets": 1,
          "numoutlets": 2
        }
      },
      {
        "box": {
          "id": "obj-45",
          "maxclass": "newobj",
          "text": "jit.release~ @latency 100",
          "patching_rect": [
            450,
            640,
            170,
            22
          ],
          "numinlets": 1,
          "numoutlets": 2
        }
      },
      {
        "box": {
          "id": "obj-46",
          "maxclass": "newobj",
          "text": "*~ 0.5",
          "patching_rect": [
            450,
            680,
            60,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-47",
          "maxclass": "newobj",
          "text": "dac~",
          "patching_rect": [
            450,
            720,
            40,
            22
          ],
          "numinlets": 2,
          "numoutlets": 0
        }
      },
      {
        "box": {
          "id": "obj-48",
          "maxclass": "comment",
          "text": "live input: choose a method that takes audio (forward, encode), then stream start",
          "patching_rect": [
            720,
            400,
            210,
            50
          ],
          "numinlets": 1,
          "numoutlets": 0
        }
      },
      {
        "box": {
          "id": "obj-49",
          "maxclass": "umenu",
          "text": "",
          "patching_rect": [
            720,
            456,
            100,
            22
          ],
          "numinlets": 1,
          "numoutlets": 3,
          "items": [
            "decode",
            ",",
            "forward",
            ",",
            "encode"
          ]
        }
      },
      {
        "box": {
          "id": "obj-50",
          "maxclass": "newobj",
          "text": "prepend method",
          "patching_rect": [
            720,
            484,
            100,
            22
          ],
          "numinlets": 1,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-51",
          "maxclass": "newobj",
          "text": "adc~ 1",
          "patching_rect": [
            840,
            456,
            50,
            22
          ],
          "numinlets": 1,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-52",
          "maxclass": "newobj",
          "text": "jit.catch~ 1",
          "patching_rect": [
            840,
            484,
            90,
            22
          ],
          "numinlets": 1,
          "numoutlets": 2
        }
      },
      {
        "box": {
          "id": "obj-53",
          "maxclass": "newobj",
          "text": "jit.net.send @ip 127.0.0.1 @port 7476",
          "patching_rect": [
            840,
            512,
            90,
            22
          ],
          "numinlets": 1,
          "numoutlets": 2
        }
      },
      {
        "box": {
          "id": "obj-54",
          "maxclass": "newobj",
          "text": "qmetro 10",
          "patching_rect": [
            940,
            456,
            70,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-55",
          "maxclass": "toggle",
          "text": "",
          "patching_rect": [
            940,
            430,
            20,
            20
          ],
          "numinlets": 1,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-56",
          "maxclass": "newobj",
          "text": "jit.net.recv @port 7475",
          "patching_rect": [
            650,
            600,
            160,
            22
          ],
          "numinlets": 1,
          "numoutlets": 2
        }
      },
      {
        "box": {
          "id": "obj-57",
          "maxclass": "jit.pwindow",
          "text": "",
          "patching_rect": [
            650,
            640,
            128,
            128
          ],
          "numinlets": 1,
          "numoutlets": 2
        }
      },
      {
        "box": {
          "id": "obj-58",
          "maxclass": "comment",
          "text": "image: load image, stream start, then bend and move",
          "patching_rect": [
            960,
            560,
            260,
            20
          ],
          "numinlets": 1,
          "numoutlets": 0
        }
      },
      {
        "box": {
          "id": "obj-59",
          "maxclass": "message",
          "text": "load image",
          "patching_rect": [
            960,
            584,
            230,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-60",
          "maxclass": "message",
          "text": "bend net_6 rotate degrees @angle=0",
          "patching_rect": [
            960,
            610,
            230,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-61",
          "maxclass": "message",
          "text": "bend net_4 zoom factor @zoom=1",
          "patching_rect": [
            960,
            636,
            230,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-62",
          "maxclass": "message",
          "text": "lfo angle sine 0.25 45",
          "patching_rect": [
            960,
            662,
            230,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-63",
          "maxclass": "message",
          "text": "env zoom 0.05 0.1 0.6 2",
          "patching_rect": [
            960,
            688,
            230,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-64",
          "maxclass": "message",
          "text": "trigger zoom",
          "patching_rect": [
            960,
            714,
            230,
            22
          ],
          "numinlets": 2,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-65",
          "maxclass": "slider",
          "text": "",
          "patching_rect": [
            800,
            780,
            140,
            18
          ],
          "numinlets": 1,
          "numoutlets": 1,
          "orientation": 1
        }
      },
      {
        "box": {
          "id": "obj-66",
          "maxclass": "newobj",
          "text": "scale 0 127 -180.0 180.0",
          "patching_rect": [
            800,
            804,
            140,
            22
          ],
          "numinlets": 6,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-67",
          "maxclass": "newobj",
          "text": "prepend set angle",
          "patching_rect": [
            800,
            830,
            120,
            22
          ],
          "numinlets": 1,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-68",
          "maxclass": "slider",
          "text": "",
          "patching_rect": [
            950,
            780,
            140,
            18
          ],
          "numinlets": 1,
          "numoutlets": 1,
          "orientation": 1
        }
      },
      {
        "box": {
          "id": "obj-69",
          "maxclass": "newobj",
          "text": "scale 0 127 0.5 2.0",
          "patching_rect": [
            950,
            804,
            140,
            22
          ],
          "numinlets": 6,
          "numoutlets": 1
        }
      },
      {
        "box": {
          "id": "obj-70",
          "maxclass": "newobj",
          "text": "prepend set zoom",
          "patching_rect": [
            950,
            830,
            120,
            22
          ],
          "numinlets": 1,
          "numoutlets": 1
        }
      }
    ],
    "lines": [
      {
        "patchline": {
          "source": [
            "obj-3",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-4",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-5",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-6",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-7",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-8",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-9",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-10",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-11",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-12",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-13",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-14",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-15",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-16",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-17",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-18",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-19",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-20",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-21",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-22",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-23",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-24",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-25",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-26",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-27",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-28",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-29",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-30",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-31",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-32",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-33",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-34",
            0
          ],
          "destination": [
            "obj-35",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-35",
            0
          ],
          "destination": [
            "obj-36",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-36",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-37",
            0
          ],
          "destination": [
            "obj-38",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-38",
            0
          ],
          "destination": [
            "obj-39",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-39",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-2",
            0
          ],
          "destination": [
            "obj-40",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-40",
            0
          ],
          "destination": [
            "obj-41",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-40",
            1
          ],
          "destination": [
            "obj-42",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-40",
            2
          ],
          "destination": [
            "obj-43",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-44",
            0
          ],
          "destination": [
            "obj-45",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-45",
            0
          ],
          "destination": [
            "obj-46",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-46",
            0
          ],
          "destination": [
            "obj-47",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-46",
            0
          ],
          "destination": [
            "obj-47",
            1
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-49",
            1
          ],
          "destination": [
            "obj-50",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-50",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-55",
            0
          ],
          "destination": [
            "obj-54",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-54",
            0
          ],
          "destination": [
            "obj-52",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-51",
            0
          ],
          "destination": [
            "obj-52",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-52",
            0
          ],
          "destination": [
            "obj-53",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-56",
            0
          ],
          "destination": [
            "obj-57",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-59",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-60",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-61",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-62",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-63",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-64",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-65",
            0
          ],
          "destination": [
            "obj-66",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-66",
            0
          ],
          "destination": [
            "obj-67",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-67",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-68",
            0
          ],
          "destination": [
            "obj-69",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-69",
            0
          ],
          "destination": [
            "obj-70",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-70",
            0
          ],
          "destination": [
            "obj-2",
            0
          ]
        }
      }
    ]
  }
}