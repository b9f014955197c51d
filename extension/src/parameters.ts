/**
 * The "Run with parameters" form: one input per property of the notebook's parameter schema
 * (`reef params --json`): a list for an enum, a checkbox for a boolean, a bounded number box
 * for a number, JSON text for a list or a mapping, text otherwise. The server casts and checks
 * the values as `reef run -p` does.
 */
import { Widget } from '@lumino/widgets';

import { INotebookInfo, ISchemaProperty } from './api';

type Field = HTMLInputElement | HTMLSelectElement;

export class ParametersForm extends Widget {
  constructor(info: INotebookInfo) {
    super();
    this.addClass('reef-parameters-form');
    const properties = info.parameters.properties;
    const names = Object.keys(properties);
    if (names.length === 0) {
      const note = document.createElement('p');
      note.textContent = `${info.path} has no cell tagged 'parameters': it runs with none.`;
      this.node.appendChild(note);
    }
    for (const name of names) {
      const property = properties[name];
      const row = document.createElement('label');
      row.className = 'reef-parameter';
      const title = document.createElement('span');
      title.className = 'reef-parameter-name';
      title.textContent = name;
      const field = inputFor(name, property);
      const problem = document.createElement('span');
      problem.className = 'reef-parameter-error';
      problem.dataset.parameter = name;
      this.fields.set(name, { field, property, problem });
      row.append(title, field);
      if (property.description) {
        const help = document.createElement('span');
        help.className = 'reef-parameter-help';
        help.textContent = property.description;
        row.appendChild(help);
      }
      row.appendChild(problem);
      this.node.appendChild(row);
    }
    // JupyterLab's dialog disables Run while an input is :invalid; this says which and why, where it is.
    this.why.className = 'reef-parameters-blocked';
    this.node.appendChild(this.why);
    this.node.addEventListener('input', () => this.explain());
  }

  /** Each invalid value's reason beside it, and one line saying why Run is disabled (none when all are valid). */
  explain(): void {
    const invalid: string[] = [];
    for (const [name, { field, problem }] of this.fields) {
      const reason = field.validity.valid ? '' : field.validationMessage || 'not a valid value';
      problem.textContent = reason;
      if (reason) {
        invalid.push(`${name}: ${reason}`);
      }
    }
    this.why.textContent = invalid.length ? `Run is disabled until every value is valid (${invalid.join('; ')})` : '';
  }

  /** The values to send: typed where the schema says so; an empty box keeps the default. */
  getValue(): { [name: string]: unknown } {
    const values: { [name: string]: unknown } = {};
    for (const [name, { field, property }] of this.fields) {
      if (field instanceof HTMLSelectElement) {
        const enums = property.enum || [];
        values[name] = enums[field.selectedIndex];
      } else if (field.type === 'checkbox') {
        values[name] = field.checked;
      } else if (field.value === '') {
        continue;
      } else if (field.type === 'number') {
        values[name] = Number.isNaN(field.valueAsNumber) ? field.value : field.valueAsNumber;
      } else if (property.type === 'array' || property.type === 'object') {
        try {
          values[name] = JSON.parse(field.value);
        } catch {
          values[name] = field.value; // the server says what is wrong with it
        }
      } else {
        values[name] = field.value;
      }
    }
    return values;
  }

  private fields = new Map<string, { field: Field; property: ISchemaProperty; problem: HTMLElement }>();
  private why = document.createElement('p');
}

function inputFor(name: string, property: ISchemaProperty): Field {
  if (property.enum) {
    const select = document.createElement('select');
    select.name = name;
    for (const option of property.enum) {
      const element = document.createElement('option');
      element.textContent = String(option);
      element.selected = option === property.default;
      select.appendChild(element);
    }
    return select;
  }
  const input = document.createElement('input');
  input.name = name;
  if (property.type === 'boolean') {
    input.type = 'checkbox';
    input.checked = Boolean(property.default);
  } else if (property.type === 'integer' || property.type === 'number') {
    input.type = 'number';
    input.step = property.type === 'integer' ? '1' : 'any';
    const low = property.minimum ?? property.exclusiveMinimum;
    const high = property.maximum ?? property.exclusiveMaximum;
    if (low !== undefined) {
      input.min = String(low);
    }
    if (high !== undefined) {
      input.max = String(high);
    }
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the schema's default, shown as it is
    input.value = property.default === undefined ? '' : String(property.default);
  } else if (property.type === 'array' || property.type === 'object') {
    input.type = 'text';
    input.value = property.default === undefined ? '' : JSON.stringify(property.default);
  } else {
    input.type = 'text';
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the schema's default, shown as it is
    input.value = property.default === undefined || property.default === null ? '' : String(property.default);
  }
  return input;
}
