import './index.css';
import './runview.css';
